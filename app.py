#!/usr/bin/env python3
"""CDK entry point. Configuration comes from cdk.json context; synth makes no AWS call."""

import sys
from pathlib import Path

# The stack builds its tables from the runtime's schema, so the runtime must be importable.
sys.path.insert(0, str(Path(__file__).resolve().parent / "runtime"))

from aws_cdk import App

from stacks.app import build

app = App()
build(app)
app.synth()
