"""Generation backends behind one protocol (base.py). Heavy imports live inside constructors."""
