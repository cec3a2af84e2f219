"""Models shipped with nerwin (data only: JSON and safetensors folders, no code)."""
