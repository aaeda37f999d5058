"""The offline sync protocol (DESIGN.md, "Offline sync"): push, merge, pull, cursor.

See docs/SYNC.md for the rules and the reasons behind them.
"""
