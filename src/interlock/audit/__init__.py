"""The audit log: durable, ordered call records, tamper-evident by Merkle tree and signed checkpoints."""
