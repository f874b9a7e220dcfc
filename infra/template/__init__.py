"""Reading service definitions: serverless.yml's variables, CloudFormation's YAML tags and
intrinsic functions, SAM and plain CloudFormation templates (see `infra.config`)."""
