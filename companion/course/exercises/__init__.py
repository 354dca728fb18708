"""One module per chapter with exercises, named like the chapter's notebook without its number.

Each module opens with ``CHAPTER = Chapter(N, "slug")`` and registers its exercises with it (see
:mod:`companion.course.registry`); :func:`companion.course.exercises` imports them all. A notebook
imports its checkers from its own module::

    from companion.course.exercises.attention import check_attention
    check_attention(attention)   # ex-attention-implement: 8/8 cases passed ...
"""
