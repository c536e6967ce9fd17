"""What TF Serving does with a request to the export, without the model server: the gRPC
``PredictRequest`` a client sends and the REST bodies, turned into the signature's inputs as the
server does (names, dtypes, shapes), the signature called on the loaded SavedModel, and its
outputs put into a ``PredictResponse`` / a JSON response. No model server runs here."""

import json

import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2

from mirrorgan_keras.models.export import load_exported
from mirrorgan_keras.models.text_to_image import TextToImage

CAPTIONS = ["this bird has a red crown and blue wings", "a yellow bird"]


@pytest.fixture(scope="module")
def saved_model(tiny_export):
    return load_exported(tiny_export)


@pytest.fixture(scope="module")
def model(saved_model):
    """The task API on the same loaded SavedModel (what TextToImage.from_export gives)."""
    return TextToImage(saved_model)


def input_specs(saved_model, signature_name: str) -> dict:
    """``{input name: tf.TensorSpec}`` of a signature of the loaded SavedModel."""
    args, kwargs = saved_model.signatures[signature_name].structured_input_signature
    assert not args  # signatures take named inputs only
    return kwargs


def checked_inputs(specs: dict, tensors: dict) -> dict:
    """The request's tensors, checked as the server checks them (it answers INVALID_ARGUMENT):
    exactly the signature's input names, each of its dtype and of a compatible shape."""
    if set(tensors) != set(specs):
        raise ValueError(f"inputs {sorted(tensors)}, the signature takes {sorted(specs)}")
    for name, tensor in tensors.items():
        if tensor.dtype != specs[name].dtype:
            raise ValueError(f"{name}: expects {specs[name].dtype.name}, got {tensor.dtype.name}")
        if not specs[name].shape.is_compatible_with(tensor.shape):
            raise ValueError(f"{name}: expects shape {specs[name].shape}, got {tensor.shape}")
    return tensors


def grpc_predict(saved_model, request_bytes: bytes) -> bytes:
    """A serialized ``PredictRequest`` → the serialized ``PredictResponse`` of the signature it
    names (``output_filter`` honoured)."""
    request = predict_pb2.PredictRequest.FromString(request_bytes)
    name = request.model_spec.signature_name or "serving_default"
    tensors = {key: tf.constant(tf.make_ndarray(proto)) for key, proto in request.inputs.items()}
    outputs = saved_model.signatures[name](**checked_inputs(input_specs(saved_model, name),
                                                            tensors))
    response = predict_pb2.PredictResponse()
    response.model_spec.CopyFrom(request.model_spec)
    for key in request.output_filter or outputs:
        response.outputs[key].CopyFrom(tf.make_tensor_proto(outputs[key].numpy()))
    return response.SerializeToString()


def rest_predict(saved_model, body: str) -> str:
    """A REST ``:predict`` JSON body → the JSON response, with TF Serving's documented mapping:
    row format (``instances``, each one batch element; a list of values for a one-input
    signature, of objects otherwise) answered with ``predictions``, columnar format
    (``inputs``, each named input a whole tensor) answered with ``outputs``; JSON numbers and
    strings become the signature's dtype, DT_STRING outputs are UTF-8 JSON strings."""
    request = json.loads(body)
    name = request.get("signature_name", "serving_default")
    specs = input_specs(saved_model, name)
    if "instances" in request:
        instances = request["instances"]
        columns = ({next(iter(specs)): instances} if len(specs) == 1 else
                   {key: [instance[key] for instance in instances] for key in specs})
    else:
        columns = request["inputs"]
    tensors = {key: tf.constant(value, specs[key].dtype) for key, value in columns.items()}
    outputs = saved_model.signatures[name](**checked_inputs(specs, tensors))
    values = {key: _json_value(value.numpy()) for key, value in outputs.items()}
    if "instances" in request:
        rows = (next(iter(values.values())) if len(values) == 1 else
                [dict(zip(values, row, strict=True)) for row in zip(*values.values(),
                                                                     strict=True)])
        return json.dumps({"predictions": rows})
    return json.dumps({"outputs": values})


def _json_value(array: np.ndarray):
    if array.dtype == object:
        return np.vectorize(lambda value: value.decode("utf-8"), otypes=[object])(array).tolist()
    return array.tolist()


def test_grpc_predict_request_to_generate_from_seed(saved_model, model):
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "mirrorgan"
    request.model_spec.signature_name = "generate_from_seed"
    request.inputs["captions"].CopyFrom(tf.make_tensor_proto(CAPTIONS))
    request.inputs["seed"].CopyFrom(tf.make_tensor_proto(7, dtype=tf.int64))
    request.output_filter.extend(["images", "tokens"])
    assert request.inputs["captions"].dtype == tf.string.as_datatype_enum
    assert request.inputs["seed"].tensor_shape.dim == []  # a scalar

    response = predict_pb2.PredictResponse.FromString(
        grpc_predict(saved_model, request.SerializeToString()))
    assert response.model_spec.signature_name == "generate_from_seed"
    assert sorted(response.outputs) == ["images", "tokens"]
    images = tf.make_ndarray(response.outputs["images"])
    assert images.dtype == np.uint8 and images.shape == (2, 32, 32, 3)
    expected = model.generate(CAPTIONS, seed=7)
    np.testing.assert_array_equal(images, expected)
    tokens = tf.make_ndarray(response.outputs["tokens"])
    assert tokens[1].tolist() == [b"a", b"yellow", b"bird"] + [b""] * 5


def test_grpc_request_with_a_wrong_dtype_is_refused(saved_model):
    request = predict_pb2.PredictRequest()
    request.model_spec.signature_name = "generate_from_seed"
    request.inputs["captions"].CopyFrom(tf.make_tensor_proto(CAPTIONS))
    request.inputs["seed"].CopyFrom(tf.make_tensor_proto(7, dtype=tf.int32))
    with pytest.raises(ValueError, match="seed: expects int64, got int32"):
        grpc_predict(saved_model, request.SerializeToString())


def test_rest_row_format_to_serving_default(saved_model):
    """The predictions, read back from JSON, are the images of calling the signature directly
    with the captions in order (the global seed fixes serving_default's fresh noise)."""
    tf.random.set_seed(11)
    response = json.loads(rest_predict(saved_model, json.dumps({"instances": CAPTIONS})))
    images = np.asarray(response["predictions"])
    assert images.shape == (2, 32, 32, 3) and images.min() >= 0 and images.max() <= 255
    tf.random.set_seed(11)
    direct = saved_model.signatures["serving_default"](captions=tf.constant(CAPTIONS))
    np.testing.assert_array_equal(images, direct["images"].numpy())


def test_rest_columnar_format_to_generate_from_seed(saved_model, model):
    body = json.dumps({"signature_name": "generate_from_seed",
                       "inputs": {"captions": CAPTIONS, "seed": 7}})
    outputs = json.loads(rest_predict(saved_model, body))["outputs"]
    assert sorted(outputs) == ["attention1", "images", "stage0", "stage1", "tokens"]
    images = np.asarray(outputs["images"], np.uint8)
    np.testing.assert_array_equal(images, model.generate(CAPTIONS, seed=7))
    assert np.asarray(outputs["stage0"]).shape == (2, 16, 16, 3)
    assert np.asarray(outputs["attention1"]).shape == (2, 8, 16, 16)
    assert outputs["tokens"][1] == ["a", "yellow", "bird"] + [""] * 5
