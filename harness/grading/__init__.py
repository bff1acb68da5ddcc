"""Graders: math answers (math-verify) and, later, code execution."""
