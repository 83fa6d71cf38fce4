"""Medical images: readers (MedMNIST npz, PNG folders, DICOM, NIfTI, the MNI152 demo set),
a class-conditional GAN trained on the shared engine, and FID/KID, memorisation and
usefulness metrics. Never imports ``medgen``, ``kg`` or ``molgen``.

    data.py        image sets: readers, one-channel conversion, resizing, splits
    augment.py     differentiable augmentation (translation, cutout, brightness)
    models.py      generator and discriminator registries and their config dataclasses
    task.py        GANTask: the LightningModule (hinge loss, EMA, val_kid) for training.fit
    metrics.py     Inception features, FID, KID, memorisation
    classifier.py  the small CNN of the train-synthetic-test-real test
    evaluation.py  one evaluation of a generator: figures, goals and pictures
    pictures.py    sample grids and nearest-neighbour pairs as PNG
    errors.py      ImagingError and its subclasses
"""
