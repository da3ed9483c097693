"""The pipeline steps: one module per step (what it reads, computes with the science and writes, validated
against its schema), with the parts of a step that outgrew one module beside it."""
