"""molgen."""
