BLASSetup.ensureFastKernel()
NLNet.main()
