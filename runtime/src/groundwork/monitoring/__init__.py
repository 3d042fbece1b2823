"""Reading what the service logged and judging whether production has drifted."""
