"""BrainSCUBA (stage ``brainscuba``): a caption for every voxel, decoded from its encoder weights."""
