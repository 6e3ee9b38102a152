"""Your own images: load_dataset("folder:PATH") on folders of PNG/JPEG files the tests write
(notebook 09, section 10). Each test names the bug it guards against."""
import numpy as np
import pytest
import torch
from PIL import Image

from gan_utils.data import FOLDER_CACHE, ImageFolderError, InMemoryLoader, load_dataset, load_image_folder
from gan_utils.runtime import UserError


def _png(path, rgb=(255, 0, 0), size=(40, 40), mode="RGB"):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, rgb).save(path)
    return path


def _folder(tmp_path, classes=("cats", "dogs"), n=3, size=(40, 40)):
    for k, c in enumerate(classes):
        for i in range(n):
            _png(tmp_path / c / f"{i}.png", (40 * k, 100, 200), size)
    return tmp_path


def test_classes_come_from_sorted_subfolders_like_imagefolder(tmp_path):
    # guards against: classes numbered in directory-listing order (different on every file system) or from 1
    _folder(tmp_path, classes=("zebra", "ant", "moth"), n=2)
    ds = load_dataset(f"folder:{tmp_path}", image_size=32, channels=3)
    assert ds.classes == ("ant", "moth", "zebra")
    assert ds.labels.tolist() == [0, 0, 1, 1, 2, 2] and ds.labels.dtype == torch.long
    assert ds.images.shape == (6, 3, 32, 32) and ds.images.dtype == torch.uint8
    assert ds.name == f"folder:{tmp_path.resolve()}"
    x, y = InMemoryLoader(ds, 4, with_labels=True).next_batch()      # into the training loop, in [-1, 1]
    assert x.shape == (4, 3, 32, 32) and x.min() >= -1 and x.max() <= 1 and y.dtype == torch.long


def test_images_directly_in_the_folder_are_one_class(tmp_path):
    # guards against: a flat folder of photos (the common case) being refused or given no labels
    for i in range(3):
        _png(tmp_path / f"photo{i}.jpg", (10, 20, 30))
    ds = load_dataset(f"folder:{tmp_path}", image_size=32)
    assert ds.classes == (tmp_path.name,) and ds.labels.tolist() == [0, 0, 0]


def test_grey_and_colour_conversion(tmp_path):
    # guards against: channels ignored (RGB fed to a grey model) or grey images not replicated to RGB
    _png(tmp_path / "red.png", (255, 0, 0))
    _png(tmp_path / "grey.png", 128, mode="L")
    grey = load_dataset(f"folder:{tmp_path}", image_size=32, channels=1)
    colour = load_dataset(f"folder:{tmp_path}", image_size=32, channels=3)
    assert grey.images.shape == (2, 1, 32, 32) and colour.images.shape == (2, 3, 32, 32)
    files = sorted(p.name for p in tmp_path.glob("*.png"))                 # grey.png, red.png
    red = files.index("red.png")
    assert abs(int(grey.images[red, 0, 16, 16]) - 76) <= 1                 # ITU-R 601 luma of pure red: 0.299 * 255
    assert colour.images[red, :, 16, 16].tolist() == [255, 0, 0]
    assert colour.images[1 - red, :, 16, 16].tolist() == [128, 128, 128]   # grey replicated to three channels


def test_transparency_is_flattened_onto_white(tmp_path):
    # guards against: transparent pixels becoming whatever colour they happen to store (often black)
    img = Image.new("RGBA", (32, 32), (0, 0, 0, 0))
    img.paste((0, 0, 255, 255), (8, 8, 24, 24))
    img.save(tmp_path / "logo.png")
    ds = load_dataset(f"folder:{tmp_path}", image_size=32, channels=3)
    assert ds.images[0, :, 0, 0].tolist() == [255, 255, 255] and ds.images[0, :, 16, 16].tolist() == [0, 0, 255]


def test_non_square_images_are_centre_cropped_and_mixed_sizes_resized(tmp_path):
    # guards against: squashing a wide image (distorted shapes) or failing on a folder of mixed sizes
    wide = Image.new("RGB", (96, 32), (0, 0, 0))
    wide.paste((255, 255, 255), (32, 0, 64, 32))                          # the centre third is white
    wide.save(tmp_path / "wide.png")
    _png(tmp_path / "small.png", (0, 255, 0), (20, 20))
    with pytest.warns(UserWarning, match="enlarged"):
        ds = load_dataset(f"folder:{tmp_path}", image_size=32, channels=1, )
    w = sorted(p.name for p in tmp_path.glob("*.png")).index("wide.png")
    assert ds.images.shape == (2, 1, 32, 32)
    assert ds.images[w].float().mean() > 250                               # only the white centre square is kept


def test_mixed_sizes_without_image_size_are_one_clear_error(tmp_path):
    # guards against: torch.stack failing on images of different sizes with a shape error that names no file
    _png(tmp_path / "a.png", size=(32, 32))
    _png(tmp_path / "b.png", size=(64, 64))
    with pytest.raises(ImageFolderError, match=r"mixed sizes: a.png is 32x32, b.png is 64x64.*image_size"):
        load_dataset(f"folder:{tmp_path}")
    assert load_dataset(f"folder:{tmp_path}", image_size=32).images.shape == (2, 3, 32, 32)


def test_unreadable_files_stop_the_load_and_are_named(tmp_path):
    # guards against: a broken download silently dropped (fewer images than the user thinks) or a bare PIL traceback
    _folder(tmp_path)
    (tmp_path / "cats" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    good = tmp_path / "dogs" / "0.png"
    (tmp_path / "dogs" / "truncated.jpg").write_bytes(good.read_bytes()[:60])
    with pytest.raises(ImageFolderError) as info:
        load_dataset(f"folder:{tmp_path}", image_size=32)
    msg = str(info.value)
    assert "2 of the 8 image files" in msg and "cats/broken.png" in msg and "dogs/truncated.jpg" in msg
    assert "stopped" in msg and isinstance(info.value, UserError)


def test_empty_and_missing_folders_are_one_clear_error(tmp_path):
    # guards against: an empty folder reaching torch.stack([]) or the loader (a crash far from the cause)
    (tmp_path / "notes.txt").write_text("no images here")
    (tmp_path / "anim.gif").write_bytes(b"GIF89a")
    with pytest.raises(ImageFolderError, match=r"no \.png, \.jpg or \.jpeg image.*\.gif"):
        load_dataset(f"folder:{tmp_path}", image_size=32)
    with pytest.raises(ImageFolderError, match="does not exist"):
        load_dataset(f"folder:{tmp_path / 'nope'}", image_size=32)


def test_mixed_layout_and_empty_class_folder_are_refused(tmp_path):
    # guards against: loose images silently dropped (or made a class) next to class sub-folders, and an empty
    # class folder shifting every later class number
    _folder(tmp_path)
    _png(tmp_path / "loose.png")
    with pytest.raises(ImageFolderError, match="both directly inside it"):
        load_dataset(f"folder:{tmp_path}", image_size=32)
    (tmp_path / "loose.png").unlink()
    (tmp_path / "birds").mkdir()
    with pytest.raises(ImageFolderError, match="birds"):
        load_dataset(f"folder:{tmp_path}", image_size=32)


def test_decoded_images_are_cached_next_to_the_data_and_refreshed_when_files_change(tmp_path):
    # guards against: decoding a large folder again on every run, or a stale cache after the folder changed
    _folder(tmp_path)
    first = load_image_folder(tmp_path, image_size=32)
    caches = list((tmp_path / FOLDER_CACHE).glob("*.pt"))
    assert len(caches) == 1 and caches[0].name.startswith("32px_3ch_")
    again = load_image_folder(tmp_path, image_size=32)
    assert torch.equal(first.images, again.images) and again.classes == first.classes
    _png(tmp_path / "dogs" / "extra.png", (1, 2, 3))                      # the folder changes: decoded again
    changed = load_image_folder(tmp_path, image_size=32)
    assert len(changed) == len(first) + 1
    assert len(list((tmp_path / FOLDER_CACHE).glob("32px_3ch_*.pt"))) == 1  # the stale cache is replaced
    load_image_folder(tmp_path, image_size=64)                             # another size: its own cache file
    assert len(list((tmp_path / FOLDER_CACHE).glob("*.pt"))) == 2


def test_many_classes_keep_int64_labels(tmp_path):
    # guards against: labels stored in a narrow integer type wrapping around past 255 classes
    for k in range(300):
        _png(tmp_path / f"c{k:03d}" / "a.png", (k % 256, 0, 0), (8, 8))
    ds = load_image_folder(tmp_path, image_size=8, progress=False)
    assert ds.labels.dtype == torch.long and ds.labels.max().item() == 299 and len(ds.classes) == 300


def test_folder_options_are_checked(tmp_path):
    # guards against: channels=2 or a test split of a folder reaching PIL with a confusing error
    _folder(tmp_path)
    with pytest.raises(UserError, match="channels"):
        load_dataset(f"folder:{tmp_path}", image_size=32, channels=2)
    with pytest.raises(UserError, match="no test split"):
        load_dataset(f"folder:{tmp_path}", train=False)
    with pytest.raises(UserError, match="channels applies"):
        load_dataset("fashion-mnist", channels=3)
