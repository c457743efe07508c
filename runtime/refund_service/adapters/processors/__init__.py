"""Processor adapters behind the `RefundProcessor` port: Stripe, Adyen and the simulator.

Import what you need from the modules; nothing is imported here, so a function that uses one
processor loads only that one. `factory.build_processor` builds the configured one.
"""
