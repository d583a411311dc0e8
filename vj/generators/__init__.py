"""Frame sources: the pluggable slot between the director and the outputs."""
