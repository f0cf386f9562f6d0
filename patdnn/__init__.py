"""patdnn: pattern-based pruning and a pattern-aware CNN compiler."""
