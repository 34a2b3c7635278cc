"""No question left unanswered: time to first response and routing of unanswered items."""
