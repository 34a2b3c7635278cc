"""Commands people write in comments: `/label`, `/assign`, `/reviewers`, `/steward …`."""
