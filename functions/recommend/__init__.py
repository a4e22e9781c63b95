"""Lambda function folder (CodeUri in iac/template.yaml)."""
