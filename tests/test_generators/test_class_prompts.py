"""mmtada/generators/class_prompts.py: a sample's prompt from its
annotation, and the per-class tokens (added to a real CLIP tokenizer and
text encoder of a tiny saved Stable Diffusion folder)."""
import numpy as np
import pytest
import torch

from mmtada.generators.class_prompts import (ClassPrompts, add_class_tokens,
                                             token_names)


def test_token_names_are_slugs_made_unique():
    assert token_names(['WBC', 'red blood cell', 'Red-Blood cell', '?']) == [
        '<wbc>', '<red-blood-cell>', '<red-blood-cell-2>', '<3>']


def test_prompts_of_classification_and_detection_samples():
    names = ClassPrompts(['cat', 'dog', 'cow'])
    assert names(dict(gt_label=1, class_name='dog')) == 'a photo of a dog'
    det = dict(gt_label=2, class_name='cow, cat',
               labels=np.array([2, 0, 2]), bboxes=np.zeros((3, 4)))
    assert names(det) == 'a photo of a cow, cat'  # order of first box
    tokens = ClassPrompts(['cat', 'dog', 'cow'], 'a {} in a field',
                          token_names(['cat', 'dog', 'cow']))
    assert tokens(det) == 'a <cow>, <cat> in a field'
    with pytest.raises(ValueError, match='another dataset'):
        tokens(dict(gt_label=0, class_name='dog'))  # another class order
    with pytest.raises(ValueError, match='has no class'):
        tokens(dict(gt_label=7, class_name='x'))
    with pytest.raises(ValueError, match='no {}'):
        ClassPrompts(['cat'], 'a photo')


def test_saved_prompts_load_back(tmp_path):
    saved = ClassPrompts(['cat', 'dog'], 'a {}', ['<cat>', '<dog>'])
    saved.save(str(tmp_path))
    back = ClassPrompts.load(str(tmp_path))
    assert back.to_dict() == saved.to_dict()
    with pytest.raises(FileNotFoundError, match='finetune_diffusion'):
        ClassPrompts.load(str(tmp_path / 'none'))


@pytest.fixture
def text_model(latent_weights):
    from transformers import CLIPTextModel, CLIPTokenizer
    return (CLIPTokenizer.from_pretrained(latent_weights,
                                          subfolder='tokenizer'),
            CLIPTextModel.from_pretrained(latent_weights,
                                          subfolder='text_encoder'))


def test_tokens_start_from_the_names_embedding(text_model):
    tokenizer, encoder = text_model
    before = encoder.get_input_embeddings().weight.detach().clone()
    ids = add_class_tokens(tokenizer, encoder, ['cat', 'dog'])
    table = encoder.get_input_embeddings().weight
    assert ids == tokenizer.convert_tokens_to_ids(['<cat>', '<dog>'])
    assert len(table) == max(len(before), ids[1] + 1)
    cat = tokenizer('cat', add_special_tokens=False).input_ids
    torch.testing.assert_close(table[ids[0]], before[cat].mean(0))
    # every other row as it was (the table has rows the tokenizer does
    # not use: the new ids may be among them)
    others = [i for i in range(len(before)) if i not in ids]
    assert torch.equal(table[others], before[others])
    # the token is one id in a prompt
    assert tokenizer('a <dog>', add_special_tokens=False).input_ids[-1] \
        == ids[1]
    with pytest.raises(ValueError, match='in the tokenizer already'):
        add_class_tokens(tokenizer, encoder, ['cat'])


def test_a_class_name_without_known_text_is_one_clear_error(text_model):
    tokenizer, encoder = text_model
    with pytest.raises(ValueError, match="'¿¡' has no text the tokenizer "
                       'knows.*rename the class'):
        add_class_tokens(tokenizer, encoder, ['cat', '¿¡'])
    assert '<cat>' not in tokenizer.get_vocab()  # nothing added
