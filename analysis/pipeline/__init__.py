"""The pipeline's infrastructure: the configuration, the step declarations and their runner, provenance,
atomic storage, run directories, the [runs] expansion, the network and its checkpoints."""
