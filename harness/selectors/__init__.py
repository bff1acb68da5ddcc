"""Selectors: given N candidates of one problem, choose one (DESIGN.md section 6)."""
