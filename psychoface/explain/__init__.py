"""Explanations of predicted ratings: the readout module, attribution methods (captum, zennit), faces in
register, regions, faithfulness checks and the streaming runner."""
