"""Issue triage: data loading, fine-tuning, calibration, evaluation and zero-shot labelling.

Public API (import from the submodules; nothing heavy happens at import time):

- ``models.triage.data``: ``LabelledItem``, ``LabelInfo``, ``load_dataset``
- ``models.triage.model``: ``TriageModel.load(dir)``, ``TriageModel.predict(items)``
- ``models.triage.calibration``: ``labels_to_apply``, ``calibrate_thresholds``
- ``models.triage.train``: ``train_models``, ``cross_validate``
- ``models.triage.evaluate``: ``evaluate_repo``, ``write_report``
- ``models.triage.zeroshot``: ``ZeroShotClassifier``
"""
