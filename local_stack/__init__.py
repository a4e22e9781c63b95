"""Everything the workflow needs to run with no AWS account: local Segment and Personalize services."""
