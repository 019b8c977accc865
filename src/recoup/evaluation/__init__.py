"""Evaluation on the digital twin: the strategy in the loop with the simulator (:mod:`.evaluate`, with
the day's tasks :mod:`.tasks`, the policy gate :mod:`.gate` and the accounting :mod:`.result`), the
perturbed twin (:mod:`.perturb`), paired comparisons (:mod:`.compare`), the response models' training
run (:mod:`.training`), the optimised decider's runs (:mod:`.optimised`) and their CLI (:mod:`.cli`:
``recoup strategy evaluate | compare | train-response``).

It depends on ``recoup.strategy`` and ``recoup.simulate``; production (``cycle``, ``strategy``,
``scoring``, ``contact``, ``cases``) never imports it nor the twin (tests/test_import_contract.py).
"""
