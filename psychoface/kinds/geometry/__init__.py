"""The geometry kind: face space on the sphere (distinctiveness, group means), the network's attribute
space against people's, Procrustes shape metrics, Riemannian RSA between layers, and maps of faces with
their quality and what they hold of each attribute (:mod:`psychoface.analyses.geometry`)."""

from __future__ import annotations

from pathlib import Path

from psychoface.kinds import options as common
from psychoface.kinds.geometry import words
from psychoface.kinds.geometry.study import build
from psychoface.kinds.registry import AnalysisKind, Option, Words, register
from psychoface.reports.references import add_bibliography

add_bibliography(Path(__file__).with_name("geometry.bib"))

KIND = register(AnalysisKind(
    name="geometry",
    help=("Representation geometry: face space on the sphere, attribute spaces, shape metrics and maps.\n\n"
          "Each face's layer vector is a direction on the unit sphere; its angle to the faces' Fréchet (Karcher) "
          "mean is its distinctiveness, correlated with every attribute (bootstrap re-estimating the mean, "
          "permutation p, Holm). The angles between the attributes' ridge readout directions form the layer's "
          "attribute space, compared with people's (angles between the attributes' mean ratings) by a Mantel test "
          "and shown as MDS maps side by side. The Procrustes angular distance of each layer to the ratings, "
          "Riemannian RSA between layers (second-moment matrices, Ledoit-Wolf shrinkage, stimulus permutations), "
          "and PCA, t-SNE or UMAP maps of the faces with their trustworthiness, continuity and the attributes "
          "they hold (k-nearest-neighbour regression from the map). --group-by ATTRIBUTE adds the distance "
          "between the Fréchet means of faces above and below its median."),
    build=build,
    options=(
        Option("layers", ("all",), "Layer(s), comma-separated, or all.", ("--layer", "-l"), list),
        common.ATTRIBUTES,
        Option("map", "pca", "Map of the faces: pca, tsne or umap (tsne and umap need the optional maps extra)."),
        Option("k", 10, "Neighbours for map quality and the nearest-neighbour regression.", ("--neighbours", "-k"),
               int),
        Option("thumbnails", False, "Draw the faces' images on the map of the last layer.", ("--thumbnails",), bool),
        Option("group_by", None, "Attribute whose median splits the faces into two groups on the sphere."),
        Option("riemannian_permutations", 1000, "Permutations of the Riemannian RSA (each one eigendecomposition).",
               ("--riemannian-permutations",), int),
        Option("shrinkage", "ledoit_wolf", "Second-moment shrinkage: ledoit_wolf, oas or a number in [0, 1)."),
        common.PERMUTATIONS, common.BOOTSTRAP, common.CORRECTION, common.SEED, common.STORE,
    ),
    words=(
        Words(("distinctiveness",), words.distinctiveness_sentence,
              words.summary("r", "correlations", words.distinctiveness_sentence), words.methods_distinctiveness,
              title="Distinctiveness and mean ratings"),
        Words(("attribute_space",), words.attribute_space_sentence, None, words.methods_attribute_space,
              title="Attribute spaces of the layers compared with people's"),
        Words(("shape_metric",), words.shape_sentence, None, words.methods_shape,
              title="Procrustes angular distance between each layer and the ratings"),
        Words(("riemannian_rsa",), words.riemannian_sentence, words.summary("z", "distances", words.riemannian_sentence),
              words.methods_riemannian, title="Riemannian distances between layers"),
        Words(("map_quality",), words.map_quality_sentence, None, words.methods_maps,
              title="Trustworthiness and continuity of the maps"),
        Words(("map_scores",), words.map_scores_sentence, words.summary("r", "correlations", words.map_scores_sentence),
              words.methods_maps, title="How much of each attribute the maps hold"),
        Words(("group_means",), words.group_sentence, None, words.methods_group,
              title="Fréchet means of two groups of faces"),
    ),
    citations=words.CITATIONS,
    demo={"layers": ["all"], "group_by": "happy"},
))
