"""Stage ``rois``: category-selective regions from localizer runs (or NSD's floc files)."""
