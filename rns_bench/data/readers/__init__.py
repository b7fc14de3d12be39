"""Layout readers: label files, VOC-style and listed folders, Hugging Face datasets."""
