"""Facts of the published work we compare with, typed once from ../shared/STUDY.md.

These are *their* numbers (CelebA, a different autoencoder), never ours: the stats
step stores them in ``stats.json`` under ``published_reference`` with a label saying
so, and the report prints them next to our measured figures, clearly marked.
"""

LABEL = ("published study (CelebA, N = 256, see ../shared/STUDY.md); for comparison only, "
         "not computed from our data")

#: The blog study (parts I-X) and the RAE paper (Ghosh et al., ICLR 2020).
FACTS = {
    "N": 256,
    "celeba_images": 202_599,
    "encoded": "80,000 to 200,000",
    "b_best": 1.5,
    "b_match_range": [1.0, 2.0],
    "uniform_radius_mean_closed_form": 13.9,
    "uniform_radius_std_closed_form": 0.39,
    "projection_sample": 5000,
    "n_artificial": 10,
    "slice_artificial": 200,
    "zoom_points": 5600,
    "slice_sample": 2, "slice_sample_of": 5000, "slice_all": 56, "slice_all_of": 80_000,
    "slice_177_242_sample": 1, "slice_177_242_all": 39,
    "slice_30_118_all": 70,
    "rae_fid_ae_gmm": 45, "rae_fid_vae": 48, "rae_fid_rae": "41 to 45", "rae_latent": 64, "rae_gmm": 10,
}


def reference() -> dict:
    """The study's figures as stored in ``stats.json`` (``published_reference``)."""
    f = FACTS
    return {
        "label": LABEL,
        **f,
        "slices": [
            {"pair": None, "b": f["b_best"], "sample": f["slice_sample"], "of_sample": f["slice_sample_of"],
             "all": f["slice_all"], "of_all": f["slice_all_of"]},
            {"pair": [177, 242], "b": f["b_best"], "sample": f["slice_177_242_sample"],
             "of_sample": f["slice_sample_of"], "all": f["slice_177_242_all"], "of_all": f["slice_all_of"]},
            {"pair": [30, 118], "b": f["b_best"], "all_about": f["slice_30_118_all"], "of_all": f["slice_all_of"]},
        ],
    }
