"""The autoencoder: one shared encoder, one decoder with a mask head per identity.

``card`` describes a model (and is its JSON), ``network`` builds the torch modules from a card,
``store`` saves and loads a model folder (safetensors weights + ``card.json``) and swaps faces.
"""
