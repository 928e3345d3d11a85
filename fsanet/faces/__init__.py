"""Layer 3: from a photo to the crop the network sees. Face detectors, the crop rules, box geometry.
"""
