"""One folder per Lambda function; the shared layer lives in functions/shared."""
