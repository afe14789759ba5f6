"""Neural building blocks: encoders, fusion rules and decoders."""
