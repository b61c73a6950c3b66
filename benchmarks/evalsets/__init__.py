"""Generators for the independent detection evaluation sets (see benchmarks/data/README.md).

The templates here were written without reference to the recognizers, from the kinds of text people
paste into a model: tickets, chats, e-mails, forms, logs, JSON, CSV, code and configuration. Values come
from Faker (pinned) with a fixed seed, or are shaped here after each provider's published key format.
"""
