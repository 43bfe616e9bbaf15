"""BrainDiVE: images synthesised by a diffusion model guided by a voxelwise encoder toward a brain region."""
