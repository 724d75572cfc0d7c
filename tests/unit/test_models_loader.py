"""A catalogue entry binds its stand-in: the loader builds the class the entry names with that entry, so the
variations of a family (bert-99, bert-99.9) are one class and differ only in their entries."""
import pytest

from dummy_harness import catalogue, models


@pytest.mark.parametrize("name", list(catalogue.CATALOGUE))
def test_each_entry_builds_its_class_with_itself(name):
    spec = catalogue.get(name)
    bench = models.load(spec)
    assert bench.spec is spec and bench.size == spec.default_size
    assert f"{type(bench).__module__}:{type(bench).__name__}" == spec.implementation


def test_variations_of_a_family_share_one_class_and_keep_their_own_target():
    strict, loose = models.load(catalogue.get("bert-99.9")), models.load(catalogue.get("bert-99"))
    assert type(strict) is type(loose)
    assert (strict.spec.accuracy_target, loose.spec.accuracy_target) == (0.999, 0.99)


def test_an_unknown_size_is_refused_naming_the_known_ones():
    with pytest.raises(ValueError, match=r"unknown size 'huge' for gptj-99.9; use one of \('small', 'full'\)"):
        models.load(catalogue.get("gptj-99.9"), "huge")


def test_an_llm_stand_in_is_the_same_model_whatever_torch_pool_builds_it():
    # Its fitted head is a least-squares solve whose rounding follows the thread count: built on one thread,
    # an Offline run (all cores) and a Server run (all but one) get the same model and so the same dataset.
    import torch

    from dummy_harness import catalogue, models
    from dummy_harness.dataset import weights_digest

    before = torch.get_num_threads()
    try:
        digests = set()
        for threads in (1, 2):
            torch.set_num_threads(threads)
            digests.add(weights_digest(models.load(catalogue.get("llama2-70b-99"), "").build_model()))
    finally:
        torch.set_num_threads(before)
    assert len(digests) == 1
