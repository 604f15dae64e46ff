"""sympile's own fuzzer: random expressions, derivatives, hostile text and files, malformed calls.

The engine lives here, beside the other test helpers, so that ``tests/test_fuzz.py`` runs a short
seeded campaign and ``bench/fuzz.py`` a long one with the same code (docs/reliability.md):

- `reference`: a 50-digit mpmath evaluation of a SymPy expression with a running error bound
  and the point's conditioning (near a jump, a domain edge, an overflowing intermediate);
- `generate`: random expressions, points, hostile parser texts and files, malformed inputs;
- `numeric`: classes ``value`` and ``derivative``, every backend against the reference;
- `hostile`: classes ``parse``, ``load`` and ``call``, each case in a watched worker process;
- `campaign`: running the classes, tallying and printing the summary and reproducers.
"""
