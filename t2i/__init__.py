"""t2i: text-to-image conditional GANs (GAN-INT-CLS, Reed et al. 2016) on captioned birds and flowers."""

__version__ = "0.1.0"
__all__ = ["Text2ImagePipeline", "generate", "__version__"]


def __getattr__(name: str):
    # Imported lazily so that `import t2i` stays fast and never pulls in Lightning.
    if name in ("generate", "Text2ImagePipeline"):
        from t2i import pipeline

        return getattr(pipeline, name)
    raise AttributeError(f"module 't2i' has no attribute {name!r}")
