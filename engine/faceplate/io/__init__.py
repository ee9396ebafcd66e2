"""Reading and writing plates: frame sequences, images through OpenImageIO, colour through OCIO."""
