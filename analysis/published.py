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
    "celeba_channels": 3,   # colour photographs
    "rae_image_size": 64,   # CelebA at 64 x 64 pixels in Ghosh et al. (2020), as configs/celeba.toml
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


#: The published findings the claims ledger tests (:mod:`analysis.steps.claims`), in the
#: study's order: id -> (part of the series, the finding in our words, what the study
#: reported). Their words, never our numbers.
FINDINGS = {
    "off_centre": ("II", "The latent components are not centred at zero: each has its own mean.",
                   "means are not zero"),
    "own_spread": ("II", "Each latent component has its own spread; no common interval fits them all.",
                   "each component has its own spread"),
    "ellipsoid": ("III", "The components are correlated: the cloud is an ellipsoid stretched along a few "
                         "main axes.", "a small ellipsoid stretched along a few main axes"),
    "centre_subspace": ("III", "The centre of the cloud lies away from the origin, close to a subspace "
                               "spanned by a few principal axes.", "centre close to a sub-space of a few axes"),
    "origin_border": ("IV", "The origin lies at the border of the bulk of the cloud, not inside it.",
                      "origin at the border of the bulk"),
    "projection_overlap": ("IV", "Projections on pairs of components suggest that uniform points overlap "
                                 "the real ones near the origin; flat-cuboid slices remove that overlap.",
                           "projection overlap is a projection effect"),
    "slices_empty": ("IV", "At the radius-matched b the flat-cuboid slices around the origin are nearly "
                           "empty while uniform points fill them.",
                     "2 of 5,000 points (56 of 80,000) in a slice; 200 uniform points fill it"),
    "uniform_void": ("IV", "Uniform points fall into voids: where they lie, on their thin shell in the cube "
                           "[-b, b]^N, there are no data.",
                     "uniform points fall into voids the encoder never fills"),
    "thin_shell": ("II", "Uniform random vectors lie on a thin spherical shell: mean radius b·sqrt(N/3), "
                         "spread b/sqrt(15), independent of N.", "13.9 ± 0.39 for N = 256, b = 1.5"),
    "b_range": ("II", "Radii of uniform points match the real radii only in a narrow range of b.",
                "1.0 < b < 2.0, best b = 1.5"),
    "uniform_nonfaces": ("V", "Uniform random vectors decode to images that are not faces.",
                         "decoded uniform points are not faces"),
    "per_component_better": ("V", "Drawing each component from its own measured distribution does better "
                                  "than uniform vectors.", "per-component generation does better"),
    "core_normal": ("VIII", "The dense core of the cloud (more than 80 % of the points after a 3-sigma cut) "
                            "is close to a multivariate normal distribution.",
                    "> 80 % kept; Shapiro-Wilk and Henze-Zirkler tests"),
    "pca_faces": ("IX-X", "Sampling in PCA space inside confidence ellipsoids gives latent vectors that "
                          "decode to faces.", "PCA-ellipsoid samples decode to faces"),
    "gmm_beats_simple": ("RAE", "An ex-post Gaussian mixture fitted to the latent codes beats simple priors "
                                "(Ghosh et al. 2020).", "CelebA FID: AE + GMM about 45, VAE about 48"),
}

#: The share of points the study's 3-sigma cut kept in the dense core (part VIII: "> 80 %").
CORE_KEPT = 0.8
