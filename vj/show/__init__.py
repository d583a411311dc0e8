"""The show loop: rehearsal, preview and live as one loop with three clocks."""
