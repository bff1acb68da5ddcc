"""Readers for outside candidate formats, used by `harness.pool_import.import_pool`.

Each reader streams its files line by line, validates every line (a bad one raises
JsonlFormatError naming file, line and field), matches lines to the task's problems and returns
a `ReadResult`: the pools to write, the candidates for them and the input problems the task
does not have. Nothing is written by a reader.
"""
