#!/bin/bash
# What ran on the GPU machine (its own python3: torch 2.11.0+cu130, no Jupyter, no network), from
# the repository root, each command limited to the time left:
#   NBS="notebooks/31_train_gpt.ipynb ..." bash benchmarks/gpu-runs/2026-12-04-h200/run.sh SECONDS
# companion is not installed there: the repository is on PYTHONPATH and a stub dist-info of
# companion.DISTRIBUTION gives importlib.metadata its version, for companion.runtime.describe() and
# for the setup cell, which would otherwise try to install that release.
export COMPANION_PROFILE=gpu COMPANION_OFFLINE=1 COMPANION_DATA=$PWD/tests/data MPLBACKEND=Agg \
       PYTHONUNBUFFERED=1
version=$(sed -n 's/^__version__ = "\(.*\)"$/\1/p' companion/__init__.py)
meta=/tmp/site/llm_textbook_companion-$version.dist-info
mkdir -p $meta && printf "Metadata-Version: 2.1\nName: llm-textbook-companion\nVersion: $version\n" > $meta/METADATA
export PYTHONPATH=$PWD:/tmp/site
deadline=$(( $(date +%s) + ${1:-500} ))
{ nvidia-smi; python3 -c "import sys, torch; print(sys.version, torch.__version__, torch.cuda.get_device_name())"; } \
  > $OUT/summary.txt 2>&1
for nb in ${NBS:-notebooks/31_train_gpt.ipynb notebooks/32_seq2seq_numbers.ipynb notebooks/33_bert_pretraining.ipynb}; do
  left=$(( deadline - $(date +%s) ))
  [ $left -lt 20 ] && { echo "skipped $nb (no time left)" >> $OUT/summary.txt; continue; }
  name=$(basename $nb .ipynb)
  start=$(date +%s)
  timeout $left python3 tools/run_as_script.py $nb > $OUT/$name.log 2>&1
  echo "$nb rc=$? wall=$(( $(date +%s) - start ))s" >> $OUT/summary.txt
  grep "NOTEBOOK" $OUT/$name.log >> $OUT/summary.txt
done
