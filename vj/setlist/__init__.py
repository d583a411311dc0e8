"""The setlist: YAML source, validated models, schedules, expressions, timecode and prompts."""
