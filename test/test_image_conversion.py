"""sensor_msgs/Image <-> numpy for every supported encoding, with padded rows and byte order."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra import numpy as hnp

from automask_ros.core.shared import image_codec
from automask_ros.core.shared.image_codec import ENCODINGS, ImageCodecError

encodings = st.sampled_from(sorted(ENCODINGS))


@st.composite
def images(draw):
    encoding = draw(encodings)
    dtype, channels = ENCODINGS[encoding]
    h, w = draw(st.integers(1, 12)), draw(st.integers(1, 12))
    shape = (h, w) if channels == 1 else (h, w, channels)
    elements = st.floats(-1e6, 1e6, width=32) if dtype.kind == "f" else None
    array = draw(hnp.arrays(dtype, shape, elements=elements))
    return encoding, array


def pack(array, encoding, padding, bigendian):
    """Build message fields by hand, the way a camera driver with padded rows would."""
    dtype, _ = ENCODINGS[encoding]
    raw = np.ascontiguousarray(array, dtype=dtype.newbyteorder(">" if bigendian else "<"))
    rows = raw.reshape(array.shape[0], -1).view(np.uint8)
    padded = np.zeros((rows.shape[0], rows.shape[1] + padding), np.uint8)
    padded[:, : rows.shape[1]] = rows
    return padded.shape[1], padded.tobytes()


@settings(max_examples=150, deadline=None)
@given(images(), st.integers(0, 7), st.booleans())
def test_decode_respects_step_and_byte_order(image, padding, bigendian):
    encoding, array = image
    step, data = pack(array, encoding, padding, bigendian)
    out = image_codec.decode(encoding, array.shape[0], array.shape[1], step, bigendian, data)
    np.testing.assert_array_equal(out, array)
    assert out.dtype == array.dtype


@settings(max_examples=150, deadline=None)
@given(images())
def test_encode_decode_round_trip(image):
    encoding, array = image
    h, w, step, data = image_codec.encode(array, encoding)
    np.testing.assert_array_equal(image_codec.decode(encoding, h, w, step, False, data), array)


@pytest.mark.parametrize("encoding", sorted(ENCODINGS))
def test_to_rgb8_gives_rgb_for_camera_encodings(encoding):
    dtype, channels = ENCODINGS[encoding]
    if dtype.kind == "f" or encoding == "16UC1":
        with pytest.raises(ImageCodecError, match="depth image"):
            image_codec.to_rgb8(np.zeros((2, 2), dtype), encoding)
        return
    pixel = {"rgb8": [10, 20, 30], "8UC3": [10, 20, 30], "bgr8": [30, 20, 10],
             "rgba8": [10, 20, 30, 99], "bgra8": [30, 20, 10, 99]}.get(encoding)
    if pixel is None:  # mono
        value = 200 * 256 if dtype == np.uint16 else 200
        rgb = image_codec.to_rgb8(np.full((2, 3), value, dtype), encoding)
        assert rgb.shape == (2, 3, 3) and (rgb == 200).all()
    else:
        rgb = image_codec.to_rgb8(np.tile(np.array(pixel, dtype), (2, 3, 1)), encoding)
        assert rgb.shape == (2, 3, 3) and (rgb == [10, 20, 30]).all()


@pytest.mark.parametrize("fields, match", [
    (("yuv422", 2, 2, 4, False, b"\0" * 8), "unsupported image encoding"),
    (("rgb8", 0, 4, 12, False, b""), "empty image"),
    (("rgb8", 2, 2, 6, False, b"\0" * 11), "truncated"),
    (("rgb8", 2, 2, 5, False, b"\0" * 10), "step 5 is smaller"),
    (("mono8", 100_000, 100_000, 100_000, False, b""), "exceeds"),
])
def test_inconsistent_messages_raise_one_clear_error(fields, match):
    with pytest.raises(ImageCodecError, match=match):
        image_codec.decode(*fields)


@pytest.mark.ros
@settings(max_examples=60, deadline=None)
@given(images())
def test_ros_message_round_trip(image):
    from automask_ros.ros.image_conversion import imgmsg_to_numpy, numpy_to_imgmsg

    encoding, array = image
    msg = numpy_to_imgmsg(array, encoding)
    assert (msg.height, msg.width, msg.encoding) == (array.shape[0], array.shape[1], encoding)
    np.testing.assert_array_equal(imgmsg_to_numpy(msg), array)


@pytest.mark.ros
def test_ros_message_with_wrong_length_raises():
    from sensor_msgs.msg import Image

    from automask_ros.ros.image_conversion import imgmsg_to_rgb

    msg = Image(height=4, width=4, encoding="rgb8", step=12)
    msg.data = b"\0" * 10
    with pytest.raises(ImageCodecError, match="truncated"):
        imgmsg_to_rgb(msg)
