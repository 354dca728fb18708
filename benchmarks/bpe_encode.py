"""Time ``BPETokenizer.encode`` against input length, on English and on text without spaces.

    COMPANION_DATA=tests/data .venv/bin/python benchmarks/bpe_encode.py   # 1,000 .. 1,000,000 characters, vocabulary 1024
    .venv/bin/python benchmarks/bpe_encode.py --max-chars 100000 --vocab-size 512

GPT-2's pre-tokenizer cuts text at spaces and punctuation, so English arrives in short chunks, but a
text without them (Chinese, a long run of one character) is one chunk as long as the text: here
Shakespeare with everything but its letters removed.
Encoding a chunk by rescanning it for its lowest-ranked pair after every merge (GPT-2's ``bpe``,
:func:`rescan_encode` here) costs O(n x m), where m, the number of distinct merges that fire,
grows with the chunk length (up to the vocabulary's merges): superlinear;
companion's heap-driven merge loop costs O(n log n). The script trains a tokenizer on the first
half of Tiny Shakespeare (``$COMPANION_DATA``, as the tests set it, or downloaded), then times both (each caching distinct
chunks) on prefixes of growing length of the other half, as it is and as one chunk, checks that they give the same ids, and
prints seconds (companion's: the fastest of ``--repeats``), MB/s, the log-log slope of time against length (1.0 = linear), and the ratio
rescan / companion where the rescan was run (it is skipped above ``--max-rescan-chars``).
Sizes count characters, not bytes. The other half of Tiny Shakespeare has 557,697 characters (424,883
letters), so a source shorter than ``--max-chars`` is repeated to that length: in English the prefixes
beyond one copy repeat chunks already encoded, which are cache hits for both encoders (the one-chunk
text stays one chunk, encoded in full).
"""

from __future__ import annotations

import argparse
import math
import time
from itertools import pairwise

from companion.data.corpora import tiny_shakespeare
from companion.tokenizers import BPETokenizer


def rescan_encode(tok: BPETokenizer, text: str) -> list[int]:
    """Reference encoding (GPT-2's ``bpe``): per chunk, rescan for the lowest-ranked pair present
    after every merge and replace its occurrences left to right."""
    ranks = {pair: r for r, pair in enumerate(tok.merges)}
    cache: dict[str, list[int]] = {}  # each distinct chunk once, as companion does
    out = []
    for chunk in tok.pretokenize(text):
        if chunk in cache:
            out.extend(cache[chunk])
            continue
        w = list(chunk.encode("utf-8"))
        while len(w) >= 2:
            best = min(pairwise(w), key=lambda p: ranks.get(p, len(ranks)))
            if best not in ranks:
                break
            merged, i = [], 0
            while i < len(w):
                if tuple(w[i : i + 2]) == best:
                    merged.append(256 + ranks[best])
                    i += 2
                else:
                    merged.append(w[i])
                    i += 1
            w = merged
        cache[chunk] = w
        out.extend(w)
    return out


def seconds(fn, text: str) -> float:
    """Wall time of one call on a fresh tokenizer cache (each chunk is cached after its first use)."""
    start = time.perf_counter()
    fn(text)
    return time.perf_counter() - start


def slope(sizes: list[int], times: list[float]) -> float:
    """Least-squares slope of log(time) against log(size)."""
    xs, ys = [math.log(s) for s in sizes], [math.log(max(t, 1e-9)) for t in times]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum(
        (x - mx) ** 2 for x in xs
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--min-chars", type=int, default=1_000)
    parser.add_argument("--max-chars", type=int, default=1_000_000)
    parser.add_argument("--max-rescan-chars", type=int, default=100_000)
    parser.add_argument("--vocab-size", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=3, help="companion's time: the fastest")
    args = parser.parse_args()

    text = tiny_shakespeare(progress=False)
    half = len(text) // 2
    train_text, test_text = text[: min(half, 200_000)], text[half:]
    tok = BPETokenizer.train(train_text, vocab_size=args.vocab_size)
    print(f"BPE: {args.vocab_size} ids, trained on {len(train_text):,} characters")
    sizes = []
    n = args.min_chars
    while n <= args.max_chars:
        sizes.append(n)
        n *= 10
    one_chunk = "".join(c for c in test_text if c.isalpha())  # no space or punctuation: one chunk
    for name, source in (("English", test_text), ("one chunk", one_chunk)):
        source = (source * (1 + args.max_chars // max(1, len(source))))[: args.max_chars]
        times = []
        for size in sizes:
            sample = source[:size]
            # A fresh tokenizer per repeat (an empty chunk cache); the fastest of the repeats.
            t = min(seconds(BPETokenizer(tok.merges).encode, sample) for _ in range(args.repeats))
            times.append(t)
            line = f"{name:>9} {size:>9,} chars  companion {t:8.3f} s {size / t / 1e6:6.2f} MB/s"
            if size <= args.max_rescan_chars:
                start = time.perf_counter()
                rescan_ids = rescan_encode(tok, sample)  # timed once; its ids are checked below
                reference = time.perf_counter() - start
                assert rescan_ids == tok.encode(sample), "ids differ"
                line += (
                    f"  rescan {reference:8.3f} s  ratio rescan / companion: {reference / t:.2f}x"
                )
            print(line)
        print(f"{name:>9} log-log slope of time against length: {slope(sizes, times):.2f}")


if __name__ == "__main__":
    main()
