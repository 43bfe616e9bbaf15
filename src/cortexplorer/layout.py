"""Where every artefact of the workflow lives: the one place that spells a results path.

Rules, ``rule all``, the dashboard and the tests all take their paths from :class:`Layout`, so an
output is named once. Each method returns a small frozen dataclass of paths (strings) for one
stage and one set of wildcards; pass ``"{subject}"``-style strings to get Snakemake patterns::

    layout = Layout("demo")
    layout.encoder("{subject}", "{backbone}").metrics   # a rule's output pattern
    layout.encoder("01", "democlip").metrics            # a concrete file
    layout.encoder("01", "democlip").files()            # every file of that job (rule all)

A paths class names its files (relative to the job's folder) as its fields' defaults, and
:meth:`Paths.under` places them in a folder. Sidecars that record provenance end in
``provenance.json`` (the resume tests skip them).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TypeVar

P = TypeVar("P", bound="Paths")


@dataclass(frozen=True)
class Paths:
    """A stage's outputs for one job; :meth:`files` lists them (folders included)."""

    @classmethod
    def under(cls: type[P], folder: str) -> P:
        """The class's files (its fields' defaults; ``""`` is the folder itself) placed in ``folder``."""
        return cls(**{f.name: f"{folder}/{f.default}" if f.default else folder for f in dataclasses.fields(cls)})

    def files(self) -> list[str]:
        return [getattr(self, f.name) for f in dataclasses.fields(self)]


def _paths(name: str, doc: str, namespace: dict | None = None, **files: str) -> type[Paths]:
    """A frozen :class:`Paths` dataclass whose fields are ``files`` (name -> file in the job's folder)."""
    fields = [(key, str, dataclasses.field(default=value)) for key, value in files.items()]
    cls = dataclasses.make_dataclass(name, fields, bases=(Paths,), frozen=True, namespace=namespace or {})
    cls.__doc__, cls.__module__ = doc, __name__
    return cls


def _folder_of(field: str) -> dict:
    return {"folder": property(lambda self: getattr(self, field).rsplit("/", 1)[0])}


PV = "provenance.json"
ImageSetPaths = _paths("ImageSetPaths", "An image set: uint8 images and their table.", _folder_of("images"),
                       images="images.h5", table="stimuli.tsv", provenance=PV)
OraclePaths = _paths("OraclePaths", "The demo's oracle classifier.", model="oracle.pt", metrics="metrics.tsv",
                     provenance=PV)
SimulationPaths = _paths("SimulationPaths", "The simulated BIDS dataset's own files (its participants: "
                         "SimulatedSubjectPaths).", {"root": property(lambda self: self.description.rsplit("/", 1)[0])},
                         description="bids/dataset_description.json", participants="bids/participants.tsv",
                         readme="bids/README", derivatives="bids/derivatives/fmriprep/dataset_description.json")
SimulatedSubjectPaths = _paths("SimulatedSubjectPaths", "One simulated participant: its BIDS and fMRIPrep-style folders "
                               "and its ground truth.",
                               {"truth_regions": property(lambda self: f"{self.truth}/regions.tsv"),
                                "truth_atlas": property(lambda self: f"{self.truth}/regions/atlas.nii.gz")},
                               bids="bids/sub-<label>", derivatives="bids/derivatives/fmriprep/sub-<label>",
                               truth="truth/sub-<label>")
PreprocessPaths = _paths("PreprocessPaths", "Single-trial betas of one subject (NSD mode: see nsd_files).",
                         {"nsd_files": lambda self: [self.betas, self.ncsnr, self.noiseceiling, self.provenance]},
                         betas="betas.h5", ncsnr="ncsnr.nii.gz", noiseceiling="noiseceiling.nii.gz", provenance=PV,
                         r2="r2.nii.gz", hrf_index="hrf_index.nii.gz", frac="frac.nii.gz", steps="steps.tsv", qc="qc")
RoisPaths = _paths("RoisPaths", "One subject's region masks, rois.tsv and stats/ (the folder).",
                   {"table": property(lambda self: f"{self.rois}/rois.tsv")}, rois="")
DemoClipPaths = _paths("DemoClipPaths", "The demo's open_clip model.", model="model.pt", retrieval="retrieval.tsv",
                       curve="loss.tsv", provenance=PV)
DemoDiffusionPaths = _paths("DemoDiffusionPaths", "The demo's pixel diffusion model.", model="model.pt",
                            curve="loss.tsv", provenance=PV)
DemoPriorPaths = _paths("DemoPriorPaths", "The demo prior's unguided samples judged against fresh world images.",
                        quality="quality.tsv", categories="categories.tsv", samples="samples.png", provenance=PV)
ModelCurvePaths = _paths("ModelCurvePaths", "A demo model: weights, training curve, sidecar.", model="model.pt",
                         curve="curve.tsv", provenance=PV)
FeaturesPaths = _paths("FeaturesPaths", "One backbone's image embeddings of every stimulus.", features="",
                       provenance="")
EncoderPaths = _paths("EncoderPaths", "One subject's voxelwise encoder on one backbone.", model="encoder.pt",
                      metrics="metrics.tsv", regions="regions.tsv", r2="r2.nii.gz",
                      r2nn="r2_noise_normalised.nii.gz", qc="qc.png", provenance=PV)
UnguidedPaths = _paths("UnguidedPaths", "BrainDiVE's seeds without guidance.", images="images", table="seeds.tsv",
                       grid="grid.png", provenance=PV)
BrainDiVERegionPaths = _paths("BrainDiVERegionPaths", "One region's guided images.", _folder_of("scores"),
                              images="images", scores="scores.tsv", grid="grid.png", provenance=PV)
BrainDiVEEvaluationPaths = _paths("BrainDiVEEvaluationPaths", "Kept vs unguided vs natural images, per subject.",
                                  summary="summary.tsv", images="images.tsv", figure="activation.png",
                                  grids="grids.png", provenance=PV)
BankPaths = _paths("BankPaths", "The demo's BrainSCUBA image bank.", features="pool.h5",
                   provenance="pool.provenance.json")
BankBuildPaths = _paths("BankBuildPaths", "BrainSCUBA's image bank built from the user's images (its shards: "
                        "Layout.brainscuba_bank_shard).", index="index.tsv", manifest="manifest.txt",
                        provenance="manifest.provenance.json")
ProjectionPaths = _paths("ProjectionPaths", "Voxel weights projected onto the bank.", projection="projection.h5",
                         provenance="projection.provenance.json")
CaptionsPaths = _paths("CaptionsPaths", "A caption per voxel.", captions="captions.tsv",
                       provenance="captions.provenance.json")
SemanticsPaths = _paths("SemanticsPaths", "Caption categories and nouns per region.", regions="regions.tsv",
                        nouns="nouns.tsv", examples="examples.tsv", category_map="category_map.png", provenance=PV)
CaptionImagesPaths = _paths("CaptionImagesPaths", "Caption-driven images (under brainscuba/) and their evaluation.",
                            images="images", summary="summary.tsv", table="images.tsv", grid="grid.png",
                            provenance=PV)
SearchStimuliPaths = _paths("SearchStimuliPaths", "One experiment's displays, targets and masks (the folder).",
                            stimuli="")
SearchRunPaths = _paths("SearchRunPaths", "One model's fixations on one experiment.", fixations="fixations.tsv",
                        scanpaths="scanpaths.png", provenance=PV)
SearchSummaryPaths = _paths("SearchSummaryPaths", "RT slopes and asymmetry of every model.", rt="rt.tsv",
                            asymmetry="asymmetry.tsv", curves="curves.png", provenance=PV)
TripletSearchPaths = _paths("TripletSearchPaths", "The decorrelated triplets.", triplets="triplets.tsv",
                            coverage="coverage.tsv", figure="search.png", provenance=PV)
TripletChoicesPaths = _paths("TripletChoicesPaths", "Choices on the triplets.", choices="choices.tsv", provenance=PV)
TripletFitPaths = _paths("TripletFitPaths", "The choice models and layer predictivity.", weights="weights.tsv",
                         predictivity="predictivity.tsv", surface="surface.png", layers="layers.png", provenance=PV)
OddOneOutPaths = _paths("OddOneOutPaths", "The SPoSE odd-one-out embedding.", embedding="embedding.tsv",
                        dimensions="dimensions.tsv", figure="dimensions.png", provenance=PV)
ScanpathDisplayPaths = _paths("ScanpathDisplayPaths", "Shelf layouts, trials with their splits, rendered displays.",
                              layouts="layouts.tsv", trials="trials.tsv", displays="displays.h5", provenance=PV)
ScanpathObservePaths = _paths("ScanpathObservePaths", "The observed (here: planted observer's) object scanpaths.",
                              scanpaths="scanpaths.tsv", provenance=PV)
ScanpathTrainPaths = _paths("ScanpathTrainPaths", "The trained OAT model and its training curve.", model="oat.pt",
                            training="training.tsv", provenance=PV)
ScanpathPixelPaths = _paths("ScanpathPixelPaths", "A pixel-level searcher's object scanpaths on the shelves.",
                            scanpaths="scanpaths.tsv", provenance=PV)
ScanpathEvaluatePaths = _paths("ScanpathEvaluatePaths", "Every scanpath model against the observed scanpaths and the "
                               "planted ceilings.", metrics="metrics.tsv", curves="found.tsv", figure="scanpaths.png",
                               provenance=PV)
DecodingWindowsPaths = _paths("DecodingWindowsPaths", "One subject's per-trial windows of parcel time series.",
                              windows="windows.h5", provenance=PV)
DecodingBaselinePaths = _paths("DecodingBaselinePaths", "The beta-space ridge decoder's test predictions.",
                               predictions="predictions.h5", provenance=PV)
DecodingWavePaths = _paths("DecodingWavePaths", "The WAVE-style decoder: test predictions per condition and seed, the "
                           "first whole-brain model, training curves.", predictions="predictions.h5", model="wave.pt",
                           training="training.tsv", provenance=PV)
DecodingImagesPaths = _paths("DecodingImagesPaths", "Images generated toward decoded embeddings, and which test image "
                             "each one retrieves.", table="images.tsv", grid="grid.png", provenance=PV)
DecodingEvaluatePaths = _paths("DecodingEvaluatePaths", "Decoding scores against chance, the network ablation, the "
                               "figure.", metrics="metrics.tsv", ablation="ablation.tsv", figure="decoding.png",
                               provenance=PV)
GroupPaths = _paths("GroupPaths", "Every participant's numbers and their mean and spread (cortexplorer.group).",
                    participants="participants.tsv", summary="summary.tsv", figure="group.png", provenance=PV)


@dataclass(frozen=True)
class Layout:
    """Every path of one dataset's run: ``results/{dataset}/…``, ``logs/{dataset}/…``, benchmarks."""

    dataset: str
    results_root: str = "results"

    @property
    def results(self) -> str:
        return f"{self.results_root}/{self.dataset}"

    @property
    def logs(self) -> str:
        return f"logs/{self.dataset}"

    @property
    def benchmarks(self) -> str:
        """Snakemake's ``benchmark:`` TSVs of every job."""
        return f"benchmarks/runs/{self.dataset}"

    def log(self, job: str) -> str:
        """The ``log:`` of a job, e.g. ``layout.log("encoder_sub-{subject}_{backbone}")``."""
        return f"{self.logs}/{job}.log"

    def benchmark(self, job: str) -> str:
        return f"{self.benchmarks}/{job}.tsv"

    # --- stimuli, oracle, simulated subject -------------------------------------------------
    def image_set(self, name: str) -> ImageSetPaths:
        """An image set (``stimuli``, ``pool``, ``localizer``, ``triplets/images``)."""
        return ImageSetPaths.under(f"{self.results}/{name}")

    def stimuli(self) -> ImageSetPaths:
        return self.image_set("stimuli")

    def oracle(self) -> OraclePaths:
        return OraclePaths.under(f"{self.results}/oracle")

    def simulation(self) -> SimulationPaths:
        return SimulationPaths.under(self.results)

    def simulated_subject(self, subject: str) -> SimulatedSubjectPaths:
        sub, r = f"sub-{subject}", self.results
        return SimulatedSubjectPaths(bids=f"{r}/bids/{sub}", derivatives=f"{r}/bids/derivatives/fmriprep/{sub}",
                                     truth=f"{r}/truth/{sub}")

    def bids_index(self) -> str:
        """The BIDS dataset's pybids indexes, one folder per dataset state: a cache beside Snakemake's
        ``.snakemake``, not a result (the first job that reads the dataset builds it,
        cortexplorer.preprocess.bids_input.layout_index)."""
        return f".cortexplorer/bids_index/{self.dataset}"

    # --- single-trial responses and regions -------------------------------------------------
    def preprocess(self, subject: str) -> PreprocessPaths:
        return PreprocessPaths.under(f"{self.results}/preprocess/sub-{subject}")

    def rois(self, subject: str) -> RoisPaths:
        return RoisPaths.under(f"{self.results}/rois/sub-{subject}")

    # --- models the demo trains -------------------------------------------------------------
    def demo_clip(self) -> DemoClipPaths:
        return DemoClipPaths.under(f"{self.results}/models/demo_clip")

    def demo_diffusion(self) -> DemoDiffusionPaths:
        return DemoDiffusionPaths.under(f"{self.results}/models/demo_diffusion")

    def demo_prior(self) -> DemoPriorPaths:
        return DemoPriorPaths.under(f"{self.results}/models/demo_diffusion/prior")

    def demo_cnn(self) -> ModelCurvePaths:
        return ModelCurvePaths.under(f"{self.results}/models/demo_cnn")

    def demo_captioner(self) -> ModelCurvePaths:
        return ModelCurvePaths.under(f"{self.results}/models/demo_captioner")

    # --- features and encoders --------------------------------------------------------------
    def features(self, backbone: str) -> FeaturesPaths:
        d = f"{self.results}/features"
        return FeaturesPaths(f"{d}/{backbone}.h5", f"{d}/{backbone}.provenance.json")

    def encoder(self, subject: str, backbone: str) -> EncoderPaths:
        return EncoderPaths.under(f"{self.results}/encoder/sub-{subject}/{backbone}")

    # --- BrainDiVE ----------------------------------------------------------------------------
    def braindive_unguided(self) -> UnguidedPaths:
        return UnguidedPaths.under(f"{self.results}/braindive/unguided")

    def braindive(self, subject: str, region: str) -> BrainDiVERegionPaths:
        return BrainDiVERegionPaths.under(f"{self.results}/braindive/sub-{subject}/{region}")

    def braindive_evaluation(self, subject: str) -> BrainDiVEEvaluationPaths:
        return BrainDiVEEvaluationPaths.under(f"{self.results}/evaluation/sub-{subject}/braindive")

    # --- BrainSCUBA ---------------------------------------------------------------------------
    def brainscuba_bank(self) -> BankPaths:
        return BankPaths.under(f"{self.results}/brainscuba/bank")

    def brainscuba_bank_build(self) -> BankBuildPaths:
        return BankBuildPaths.under(f"{self.results}/brainscuba/bank")

    def brainscuba_bank_shard(self, shard: str) -> str:
        return f"{self.results}/brainscuba/bank/shards/{shard}.h5"

    def brainscuba_projection(self, subject: str) -> ProjectionPaths:
        return ProjectionPaths.under(f"{self.results}/brainscuba/sub-{subject}")

    def brainscuba_captions(self, subject: str) -> CaptionsPaths:
        return CaptionsPaths.under(f"{self.results}/brainscuba/sub-{subject}")

    def brainscuba_semantics(self, subject: str) -> SemanticsPaths:
        return SemanticsPaths.under(f"{self.results}/brainscuba/sub-{subject}/semantics")

    def brainscuba_images(self, subject: str) -> CaptionImagesPaths:
        evaluation = CaptionImagesPaths.under(f"{self.results}/evaluation/sub-{subject}/brainscuba")
        return dataclasses.replace(evaluation, images=f"{self.results}/brainscuba/sub-{subject}/images")

    # --- visual search --------------------------------------------------------------------------
    def visual_search_stimuli(self, experiment: str) -> SearchStimuliPaths:
        return SearchStimuliPaths.under(f"{self.results}/visual_search/stimuli/{experiment}")

    def visual_search(self, model: str, experiment: str) -> SearchRunPaths:
        return SearchRunPaths.under(f"{self.results}/visual_search/{model}/{experiment}")

    def visual_search_summary(self) -> SearchSummaryPaths:
        return SearchSummaryPaths.under(f"{self.results}/visual_search")

    # --- scanpaths (OAT) -------------------------------------------------------------------------
    def scanpath_displays(self) -> ScanpathDisplayPaths:
        return ScanpathDisplayPaths.under(f"{self.results}/scanpaths/displays")

    def scanpath_observe(self) -> ScanpathObservePaths:
        return ScanpathObservePaths.under(f"{self.results}/scanpaths/observed")

    def scanpath_train(self) -> ScanpathTrainPaths:
        return ScanpathTrainPaths.under(f"{self.results}/scanpaths/oat")

    def scanpath_pixel(self, model: str) -> ScanpathPixelPaths:
        return ScanpathPixelPaths.under(f"{self.results}/scanpaths/pixel/{model}")

    def scanpath_evaluate(self) -> ScanpathEvaluatePaths:
        return ScanpathEvaluatePaths.under(f"{self.results}/scanpaths/evaluation")

    # --- decoding (WAVE and the beta baseline) --------------------------------------------------------
    def decoding_windows(self, subject: str) -> DecodingWindowsPaths:
        return DecodingWindowsPaths.under(f"{self.results}/decoding/sub-{subject}/windows")

    def decoding_baseline(self, subject: str) -> DecodingBaselinePaths:
        return DecodingBaselinePaths.under(f"{self.results}/decoding/sub-{subject}/baseline")

    def decoding_wave(self, subject: str) -> DecodingWavePaths:
        return DecodingWavePaths.under(f"{self.results}/decoding/sub-{subject}/wave")

    def decoding_images(self, subject: str) -> DecodingImagesPaths:
        return DecodingImagesPaths.under(f"{self.results}/decoding/sub-{subject}/images")

    def decoding_evaluate(self, subject: str) -> DecodingEvaluatePaths:
        return DecodingEvaluatePaths.under(f"{self.results}/decoding/sub-{subject}/evaluation")

    # --- triplets -------------------------------------------------------------------------------
    def triplet_images(self) -> ImageSetPaths:
        """A user's image folder imported for the triplets (``triplets.images`` a path)."""
        return self.image_set("triplets/images")

    def triplet_search(self) -> TripletSearchPaths:
        return TripletSearchPaths.under(f"{self.results}/triplets/search")

    def triplet_choices(self) -> TripletChoicesPaths:
        return TripletChoicesPaths.under(f"{self.results}/triplets/choices")

    def triplet_fit(self) -> TripletFitPaths:
        return TripletFitPaths.under(f"{self.results}/triplets/fit")

    def odd_one_out(self) -> OddOneOutPaths:
        return OddOneOutPaths.under(f"{self.results}/triplets/odd_one_out")

    # --- group level ------------------------------------------------------------------------
    def group(self) -> GroupPaths:
        return GroupPaths.under(f"{self.results}/group")
